"""(being written) ops: Pad"""
OP_TYPES = ("Pad",)
CASES = []
