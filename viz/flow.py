def plot_gradient_flow(): pass
