"""Payload peripherals on the MCU: police light bar, searchlight, power; pure cores + one node.

The node (`payload_node`) owns the serial port; see docs/serial_protocol.md section 11.
"""
