"""(being written) ops: Softmax"""
OP_TYPES = ("Softmax",)
CASES = []
