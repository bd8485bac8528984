"""(being written) ops: Concat"""
OP_TYPES = ("Concat",)
CASES = []
