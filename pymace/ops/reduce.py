"""(being written) ops: ReduceMean"""
OP_TYPES = ("ReduceMean",)
CASES = []
