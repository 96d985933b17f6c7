"""Repository hosts: webhook deliveries from GitHub and GitLab, GitHub's API and its Deployments."""
