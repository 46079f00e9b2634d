"""Who may do what: users, API tokens, namespaces and the checks every HTTP surface makes."""
