"""benchmarks/data"""
