"""Elastic Beanstalk: the provider, its gateway to Beanstalk and S3, and the poller that watches environments."""
