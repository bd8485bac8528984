"""(being written) ops: Transpose"""
OP_TYPES = ("Transpose",)
CASES = []
