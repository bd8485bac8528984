"""(being written) ops: Conv"""
OP_TYPES = ("Conv",)
CASES = []
