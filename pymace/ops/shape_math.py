"""(being written) ops: Shape,Gather,Cast,ConstantOfShape"""
OP_TYPES = ("Shape","Gather","Cast","ConstantOfShape",)
CASES = []
