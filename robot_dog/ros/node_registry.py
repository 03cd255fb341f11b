"""Every node executable of the stack: name -> "module:NodeClass".

Pure data, read by setup.py (one console script per node, `module:main`) and by the launcher
(`--single-process` composes the classes in one executor). A node module exposes both `main()`
and its Node subclass, whose constructor takes keyword arguments only (`**kwargs` passed to
rclpy's Node: node_name, namespace, parameter_overrides, cli_args).
"""
NODES: dict[str, str] = {
    "bodycam_node": "robot_dog.bodycam.node:BodycamNode",
    "uplink_node": "robot_dog.uplink.node:UplinkNode",
    "talker_node": "robot_dog.examples.talker:TalkerNode",
    "listener_node": "robot_dog.examples.listener:ListenerNode",
    "payload_node": "robot_dog.payload.node:PayloadNode",
    "safety_node": "robot_dog.safety.node:SafetyNode",
    "echo_base_node": "robot_dog.base.echo_node:EchoBaseNode",
    "teleop_node": "robot_dog.teleop.node:TeleopNode",
    "gamepad_node": "robot_dog.teleop.gamepad_node:GamepadNode",
    "sim_node": "sim.node:SimNode",
    "patrol_node": "robot_dog.patrol.node:PatrolNode",
    "megaphone_node": "robot_dog.audio.megaphone_node:MegaphoneNode",
    "microphone_node": "robot_dog.audio.microphone_node:MicrophoneNode",
}
