"""Buildbot side of the Taskcluster bridge.

Put this file beside master.cfg and use it there:

    from taskcluster_bridge import bridge_scheduler, bridge_reporter

    c['schedulers'].append(bridge_scheduler(builderNames=["linux64"]))
    c['services'].append(bridge_reporter(
        "http://bridge.example:9466/buildbot/events", password="..."))

Builders reached through the bridge should not collapse requests
(c['collapseRequests'] = False, or collapseRequests=False on each
BuilderConfig): Buildbot would otherwise complete an older pending request
as SKIPPED when a newer one arrives for the same sourcestamp, whatever its
taskId.
"""

import json
import re

from buildbot import config
from buildbot.plugins import reporters
from buildbot.plugins import schedulers
from buildbot.reporters.generators.build import BuildStartEndStatusGenerator
from buildbot.reporters.generators.buildrequest import BuildRequestGenerator
from buildbot.reporters.message import MessageFormatterFunction
# Not re-exported by buildbot.plugins.util, so it is imported from its home.
from buildbot.schedulers.forcesched import BaseParameter
from buildbot.schedulers.forcesched import CodebaseParameter
from buildbot.schedulers.forcesched import UserNameParameter
from buildbot.schedulers.forcesched import ValidationError

__all__ = ["BridgePropertiesParameter", "BridgeUserNameParameter", "bridge_scheduler", "bridge_reporter"]


class BridgePropertiesParameter(BaseParameter):
    """Carries every property of a bridged task in one force parameter.

    The stock parameters cannot do it: the force endpoint silently drops any
    argument the scheduler has not declared, and AnyPropertyParameter takes
    one string name/value pair only. The bridge needs any number of names
    with JSON values (lists, dicts, ints), known only when the task arrives.
    """

    type = "text"
    # The web UI's force form cannot fill this in usefully; the bridge is
    # its only writer.
    hide = True
    default = ""

    def __init__(self, name="bridge_properties", **kw):
        super().__init__(name, **kw)

    def updateFromKwargs(self, properties, kwargs, collector, **unused):
        values = kwargs.get(self.fullName)
        if not values:
            return
        # force() wraps every argument that is not already a list in a list,
        # so a JSON object arrives as [dict] and a JSON-encoded string as
        # [str]; a longer list can only be a JSON array, which is refused.
        value = values[0] if len(values) == 1 else values
        if isinstance(value, str):
            if not value.strip():
                return
            try:
                value = json.loads(value)
            except ValueError as e:
                raise ValidationError(f"{self.name}: not JSON: {e}") from e
        if not isinstance(value, dict):
            raise ValidationError(f"{self.name}: want a JSON object, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str) or not key:
                raise ValidationError(f"{self.name}: property names must be non-empty strings")
        properties.update(value)


class BridgeUserNameParameter(UserNameParameter):
    """Who the request is by when the bridge forces anonymously.

    Buildbot's own check wants a dot in the mail domain and so refuses
    "taskcluster-bridge <bridge@localhost>"; this one asks only for the
    "Name <user@host>" shape. A logged-in bridge is its user instead.
    """

    need_email = False
    _shape = re.compile(r"^[^<>]*<[^<>\s@]+@[^<>\s@]+>$")

    def __init__(self, name="username", **kw):
        super().__init__(name=name, **kw)

    def parse_from_arg(self, s):
        if s and not self._shape.match(s):
            raise ValidationError(f"{self.name}: want 'Name <user@host>', got {s!r}")
        return s


def bridge_scheduler(name="taskcluster", builderNames=None):
    """The ForceScheduler through which the bridge creates build requests.

    A force is the only REST call that creates a request synchronously and
    answers with its ids, which the bridge records before it acknowledges
    the task.
    """
    if not builderNames:
        config.error("bridge_scheduler: builderNames must name the bridged builders")
    return schedulers.ForceScheduler(
        name=name,
        builderNames=list(builderNames),
        username=BridgeUserNameParameter(),
        codebases=[CodebaseParameter(codebase="")],
        properties=[BridgePropertiesParameter()],
    )


def _build_as_json(context):
    # The whole build dict, properties included, so the receiver gets the
    # taskId without a second round trip.
    return context["build"]


def bridge_reporter(url, password, user="buildbot"):
    """Pushes build and request events to the bridge.

    The default HttpStatusPush generator reports ends for SUCCESS, WARNINGS
    and FAILURE only, so a RETRY, EXCEPTION or CANCELLED build would go
    unreported; these generators report the start and the end of every
    build, and the cancellation of a request that never got a build.

    Delivery is best effort (nothing is queued or retried when the bridge is
    down), so the bridge treats these events as hints and reads the REST API
    for the truth.
    """
    formatter = MessageFormatterFunction(_build_as_json, "json")
    return reporters.HttpStatusPush(
        serverUrl=url,
        auth=(user, password),
        generators=[
            BuildStartEndStatusGenerator(start_formatter=formatter, end_formatter=formatter),
            BuildRequestGenerator(formatter=formatter),
        ],
    )
