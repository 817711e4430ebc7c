def animate_backward(): pass
