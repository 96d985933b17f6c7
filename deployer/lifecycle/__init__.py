"""The life cycle of environments: expiry rules, the manager that lists, extends and tears down, and the reaper."""
