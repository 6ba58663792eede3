"""ZooKeeper's own client protocol (jute records over TCP) on the coordsvc core.

``jute`` reads and writes the wire primitives, ``protocol`` holds ZooKeeper's
numbers (op codes, error codes, event types), ``requests`` turns a jute
request into the coordsvc request it means, and ``replies`` turns the answer
back into jute. The TCP front end that drives them is
``coordsvc.server.zk_service``.
"""
