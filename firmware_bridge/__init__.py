"""Serial link to the payload MCU: sans-I/O codec, pyserial transport and a virtual MCU."""
