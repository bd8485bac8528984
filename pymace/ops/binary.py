"""(being written) ops: Add,Sub,Mul,Div"""
OP_TYPES = ("Add","Sub","Mul","Div",)
CASES = []
