"""Sleep on Beanstalk (issue 22): what a load-balanced environment's Auto Scaling sizes become. Pure.

AWS documents pausing a load-balanced environment by giving `aws:autoscaling:asg` MinSize and MaxSize 0 through
UpdateEnvironment: its instances go, its load balancer (and so its URL) stays, and keeps billing. Waking gives
the sizes back. A single-instance environment has no such sizes to set to zero.
"""
from __future__ import annotations

from collections.abc import Mapping

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
