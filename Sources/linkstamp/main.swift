print("linkstamp")
