"""whynot.explainers"""
