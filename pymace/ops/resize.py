"""(being written) ops: Resize"""
OP_TYPES = ("Resize",)
CASES = []
