"""Developer tools on the live ROS graph: `robot-dog record` (MCAP) and `robot-dog foxglove`
(a Foxglove WebSocket server), both fed by one tap that subscribes to the selected topics as
serialized CDR, so nothing is decoded on the way."""
