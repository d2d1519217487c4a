"""What kube-apiserver would refuse in the objects cachemgr renders, without an API server.

objects.py    every rendered object loaded into the kubernetes client's typed models
rules.py      the API server's validation rules for the fields cachemgr renders, one function each
refusals.py   runs the rules on a rendered node and points each refusal at the value that caused it
"""
