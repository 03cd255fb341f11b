"""Read-only parameters: a float parameter takes a whole number, nothing else but a number."""
from __future__ import annotations

import pytest
import rclpy
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.parameter import Parameter

from robot_dog.ros.params import declare_read_only


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def node_with(context, **overrides):
    from rclpy.node import Node
    return Node("params_test", context=context, parameter_overrides=[
        Parameter(name, value=value) for name, value in overrides.items()])


def test_a_float_parameter_takes_a_whole_number(context):
    node = node_with(context, real_time_factor=5, rate=2.5)
    try:
        value = declare_read_only(node, "real_time_factor", 1.0, "x")
        assert value == 5.0 and isinstance(value, float)
        assert declare_read_only(node, "rate", 1.0, "x") == 2.5
        assert declare_read_only(node, "unset", 0.25, "x") == 0.25
    finally:
        node.destroy_node()


def test_a_float_parameter_refuses_text_and_an_int_parameter_stays_strict(context):
    node = node_with(context, real_time_factor="fast", count=2.5)
    try:
        with pytest.raises(ValueError, match="must be a number"):
            declare_read_only(node, "real_time_factor", 1.0, "x")
        with pytest.raises(InvalidParameterTypeException):   # an int parameter is an int
            declare_read_only(node, "count", 3, "x")
    finally:
        node.destroy_node()


def test_read_only_is_kept(context):
    node = node_with(context)
    try:
        declare_read_only(node, "limit", 1.0, "x")
        result = node.set_parameters([Parameter("limit", value=2.0)])[0]
        assert not result.successful and node.get_parameter("limit").value == 1.0
    finally:
        node.destroy_node()
