"""(Layer types of this module: being written.)"""
