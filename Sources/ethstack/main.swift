print("ethstack")
