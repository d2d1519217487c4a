"""A node's rendered manifests run as a real pod under podman: the engine, the transforms podman needs, the pod."""
