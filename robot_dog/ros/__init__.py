"""What every ROS 2 node of the stack shares: localhost-only discovery (`dds_env`, `localhost`),
QoS profiles (`qos`), read-only parameters (`params`), the one `main()` (`ros_main`) and the
registry of node executables (`node_registry`)."""
