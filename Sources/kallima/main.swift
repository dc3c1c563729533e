print("kallima")
