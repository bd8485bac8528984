"""(being written) ops: Gemm,MatMul"""
OP_TYPES = ("Gemm","MatMul",)
CASES = []
