"""The topic tree: builders and parser agree, and everything outside the tree is refused."""
import pytest
from hypothesis import given, strategies as st

from robot_dog.mqtt import topics
from robot_dog.mqtt.topics import Kind, Topic, TopicError

DOGS = st.from_regex(topics.DOG_ID, fullmatch=True)
CAMERAS = st.sampled_from(topics.CAMERAS)
SOURCES = st.sampled_from(topics.AUDIO_SOURCES)
VERBS = st.from_regex(topics.VERB, fullmatch=True).filter(lambda v: v not in ("result", "voice"))


def test_builders_match_design_tree():
    assert topics.status("dog1") == "patrol/v1/dog1/status"
    assert topics.telemetry("dog1") == "patrol/v1/dog1/telemetry"
    assert topics.video("dog1", "bodycam") == "patrol/v1/dog1/video/bodycam"
    assert topics.audio("dog1", "mic") == "patrol/v1/dog1/audio/mic"
    assert topics.events("dog1") == "patrol/v1/dog1/events"
    assert topics.cmd("dog1", "announce") == "patrol/v1/dog1/cmd/announce"
    assert topics.cmd_result("dog1") == "patrol/v1/dog1/cmd/result"
    assert topics.voice("dog1") == "patrol/v1/dog1/cmd/voice"
    assert topics.evidence("dog1", "chunk") == "patrol/v1/dog1/evidence/chunk"
    assert topics.all_dogs(Kind.EVIDENCE) == "patrol/v1/+/evidence/+"


@pytest.mark.parametrize("topic, expected", [
    ("patrol/v1/dog1/status", Topic("dog1", Kind.STATUS, None)),
    ("patrol/v1/dog-2/telemetry", Topic("dog-2", Kind.TELEMETRY, None)),
    ("patrol/v1/d_3/video/front", Topic("d_3", Kind.VIDEO, "front")),
    ("patrol/v1/dog1/audio/mic", Topic("dog1", Kind.AUDIO, "mic")),
    ("patrol/v1/dog1/events", Topic("dog1", Kind.EVENTS, None)),
    ("patrol/v1/dog1/cmd/siren", Topic("dog1", Kind.CMD, "siren")),
    ("patrol/v1/dog1/cmd/result", Topic("dog1", Kind.RESULT, None)),
    ("patrol/v1/dog1/cmd/voice", Topic("dog1", Kind.VOICE, None)),
    ("patrol/v1/dog1/evidence/manifest", Topic("dog1", Kind.EVIDENCE, "manifest")),
    ("patrol/v1/dog1/evidence/chunk", Topic("dog1", Kind.EVIDENCE, "chunk")),
])
def test_parse_known_topics(topic, expected):
    assert topics.parse(topic) == expected


@pytest.mark.parametrize("topic", [
    "", "patrol", "patrol/v1", "patrol/v1/dog1", "patrol/v2/dog1/status", "Patrol/v1/dog1/status",
    "/patrol/v1/dog1/status", "patrol/v1/dog1/status/", "patrol/v1/Dog1/status",
    "patrol/v1/" + "a" * 33 + "/status", "patrol/v1/dog.1/status", "patrol/v1//status",
    "patrol/v1/dog1/unknown", "patrol/v1/dog1/video", "patrol/v1/dog1/video/a/b",
    "patrol/v1/dog1/cmd", "patrol/v1/dog1/cmd/Bad", "patrol/v1/dog1/cmd/a/b",
    "patrol/v1/dog1/telemetry/x", "patrol/v1/+/status", "patrol/v1/dog1/#", "patrol/v1/dog1/video/",
    # a captured dog inventing camera or audio names to fill the broker and the station
    "patrol/v1/dog1/video/cam99", "patrol/v1/dog1/video/mic", "patrol/v1/dog1/audio/bodycam",
    "patrol/v1/dog1/audio/mic2", "patrol/v1/dog1/evidence", "patrol/v1/dog1/evidence/segment",
])
def test_parse_rejects_outside_tree(topic):
    with pytest.raises(TopicError):
        topics.parse(topic)


@pytest.mark.parametrize("call", [
    lambda: topics.status("DOG"), lambda: topics.status("a/b"), lambda: topics.status(""),
    lambda: topics.cmd("dog1", "result"), lambda: topics.cmd("dog1", "voice"),
    lambda: topics.cmd("dog1", "x/y"),
    lambda: topics.video("dog1", "+"), lambda: topics.audio("dog1", "#"),
    lambda: topics.video("dog1", "invented"), lambda: topics.audio("dog1", "front"),
])
def test_builders_reject_bad_names(call):
    with pytest.raises(TopicError):
        call()


@given(dog=DOGS, camera=CAMERAS, source=SOURCES, verb=VERBS)
def test_round_trip(dog, camera, source, verb):
    assert topics.parse(topics.video(dog, camera)) == (dog, Kind.VIDEO, camera)
    assert topics.parse(topics.audio(dog, source)) == (dog, Kind.AUDIO, source)
    assert topics.parse(topics.cmd(dog, verb)) == (dog, Kind.CMD, verb)
    assert topics.parse(topics.telemetry(dog)).dog == dog


def test_filters():
    assert topics.commands_of("dog1") == "patrol/v1/dog1/cmd/+"
    assert topics.dog_tree("dog1") == "patrol/v1/dog1/#"
    assert topics.all_dogs(Kind.TELEMETRY) == "patrol/v1/+/telemetry"
    assert topics.all_dogs(Kind.VIDEO) == "patrol/v1/+/video/+"
    assert topics.all_dogs(Kind.RESULT) == "patrol/v1/+/cmd/result"
