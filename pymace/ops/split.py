"""(being written) ops: Split"""
OP_TYPES = ("Split",)
CASES = []
