"""A fake Jenkins controller that answers like Jenkins' JSON API, for the connector's tests."""

from tests.fakes.jenkins.instance import (
    FOLDER,
    FREESTYLE,
    MULTIBRANCH,
    PIPELINE,
    FakeBuild,
    FakeFolder,
    FakeJob,
    FakeStage,
    Instance,
    generate_instance,
)
from tests.fakes.jenkins.server import TOKEN, USER, FakeJenkins, Fault

__all__ = [
    "FOLDER",
    "FREESTYLE",
    "MULTIBRANCH",
    "PIPELINE",
    "TOKEN",
    "USER",
    "FakeBuild",
    "FakeFolder",
    "FakeJenkins",
    "FakeJob",
    "FakeStage",
    "Fault",
    "Instance",
    "generate_instance",
]
