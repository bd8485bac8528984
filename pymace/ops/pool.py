"""(being written) ops: MaxPool,AveragePool,GlobalAveragePool,GlobalMaxPool"""
OP_TYPES = ("MaxPool","AveragePool","GlobalAveragePool","GlobalMaxPool",)
CASES = []
