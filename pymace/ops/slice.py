"""(being written) ops: Slice"""
OP_TYPES = ("Slice",)
CASES = []
