"""The agent daemon and its container backends: measure the node, offer what it can spare,
run, watch, meter and kill containers."""
