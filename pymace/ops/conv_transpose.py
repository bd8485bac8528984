"""(being written) ops: ConvTranspose"""
OP_TYPES = ("ConvTranspose",)
CASES = []
