"""deploybot's deployment library: git, images, bundles, environment providers.

Knows nothing of Slack; the bot and the CLI both drive it.
"""
