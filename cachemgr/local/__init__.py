"""Running things on this machine: real xrootd origins and redirectors, a node under supervise (sandbox), the
demos, the fleet, the pod under podman, and `cachemgr check`."""
