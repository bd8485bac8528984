"""(being written) ops: BatchNormalization"""
OP_TYPES = ("BatchNormalization",)
CASES = []
