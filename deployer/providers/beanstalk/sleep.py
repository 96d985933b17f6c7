"""Sleep on Beanstalk (issue 22): what a load-balanced environment's Auto Scaling sizes become, and what a
single-instance one keeps while it is terminated. Pure.

AWS documents pausing a load-balanced environment by giving `aws:autoscaling:asg` MinSize and MaxSize 0 through
UpdateEnvironment: its instances go, its load balancer (and so its URL) stays, and keeps billing. Waking gives
the sizes back. A single-instance environment has no such sizes to set to zero.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from deployer.environment import READY, Environment

ASG = "aws:autoscaling:asg"
# Beanstalk's defaults when an environment's settings name no sizes (the option reference's).
DEFAULT_SIZES = {"MinSize": "1", "MaxSize": "4"}
ASLEEP = {(ASG, "MinSize"): "0", (ASG, "MaxSize"): "0"}

Option = tuple[str, str]


def sizes_to_keep(options: Mapping[Option, str]) -> dict[str, str]:
    """The sizes waking gives back: the environment's own, or Beanstalk's defaults."""
    return {name: options.get((ASG, name)) or default for name, default in DEFAULT_SIZES.items()}


def awake_options(kept: Mapping[str, str]) -> dict[Option, str]:
    """The options that give a sleeping environment its instances back."""
    return {(ASG, name): kept.get(name) or default for name, default in DEFAULT_SIZES.items()}


# A single-instance environment has no Auto Scaling sizes to set to zero: deploybot terminates it and, to wake it,
# rebuilds it (RebuildEnvironment, which Beanstalk allows for 42 days: the same id, name, CNAME and settings). While
# it is terminated Beanstalk lists it no more, so what deploybot shows of it (and rebuilds) is kept with the sleep.
REBUILD = "rebuild"


def kept_to_rebuild(env: Environment) -> dict[str, str]:
    """What sleeping by termination keeps: the environment as it was, for listings, the reaper and the wake."""
    return {REBUILD: "1", "name": env.name, "url": env.url or "", "version": env.version_label or "",
            "arn": env.arn or "", "tags": json.dumps(dict(env.tags), sort_keys=True)}


def rebuilt_on_waking(kept: Mapping[str, str]) -> bool:
    return kept.get(REBUILD) == "1"


def stand_in(env_id: str, kept: Mapping[str, str]) -> Environment:
    """A terminated sleeping environment as deploybot shows it: Ready (to sleep, wake, extend or reap), no
    instance, the tags it had (an expiry decided since is in deploybot's store, as for any environment)."""
    return Environment(env_id, kept.get("name", ""), READY, "Grey", kept.get("url") or None,
                       kept.get("version") or None, json.loads(kept.get("tags") or "{}"), kept.get("arn") or None)
