from sim.health import ERROR, OK, WARN, assess


def test_levels():
    assert assess(1.0, 1.0, 14.0, 15.0, True, None).level == OK
    assert assess(5.0, 0.0, 14.0, 15.0, True, None).level == OK          # as fast as possible
    behind = assess(0.5, 1.0, 14.0, 15.0, True, None)
    assert behind.level == WARN and "behind real time" in behind.message
    assert assess(1.0, 1.0, 3.0, 15.0, True, None).level == WARN
    assert assess(1.0, 1.0, 0.0, 15.0, False, None).level == OK          # no camera asked
    off = assess(1.0, 1.0, 0.0, 15.0, True, "apt-get install libegl1")
    assert off.level == ERROR and "libegl1" in off.message and off.values["real_time_factor"] == "1.00"
