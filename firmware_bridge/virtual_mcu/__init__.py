"""A virtual payload MCU speaking the serial protocol on a pty, with fault injection."""
