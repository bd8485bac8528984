"""(being written) ops: Reshape,Flatten,Squeeze,Unsqueeze,Identity,Dropout"""
OP_TYPES = ("Reshape","Flatten","Squeeze","Unsqueeze","Identity","Dropout",)
CASES = []
