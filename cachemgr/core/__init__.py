"""The ground floor every other part stands on: the parameter table, units, the pod's contract (runtime.json and
the run dir), atomic files, process helpers and the xroot handshake. It imports nothing else of cachemgr."""
