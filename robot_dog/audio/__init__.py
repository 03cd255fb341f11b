"""Megaphone and microphone: devices, TTS, siren, mixer, sound events, nodes."""
