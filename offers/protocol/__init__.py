"""Wire formats shared by several roles: the Mesos scheduler API's JSON (master and
frameworks) and the Mesos TaskInfo a framework writes. Pure: pydantic, no I/O."""
