"""The placement core: which node each task goes to.  (API fixed; implementation lands next.)"""
