def main():
    print("not yet")
