"""(being written) ops: Relu,Clip,HardSwish,HardSigmoid,Sigmoid,LeakyRelu,PRelu,Tanh"""
OP_TYPES = ("Relu","Clip","HardSwish","HardSigmoid","Sigmoid","LeakyRelu","PRelu","Tanh",)
CASES = []
